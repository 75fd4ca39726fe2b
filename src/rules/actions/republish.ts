// The republish action: each matched message published again on another topic of the same
// namespace, in order. `{"kind": "republish", "topic": "alerts/{topic}", "qos": 1, "retain":
// false, "payload": "original" | "value"}`: `{topic}` is the original topic; `value` publishes
// the rule's projection (or parsed payload) as JSON. The copy carries the loop marker
// (message.ts), so it never triggers the rule that made it, nor a chain longer than 8.
import { validateTopicName } from '../../protocol/index.ts';
import type { ActionKind } from '../action.ts';
import { markedBy } from '../message.ts';

export interface RepublishConfig {
  topic: string;
  qos?: 0 | 1 | 2;
  retain: boolean;
  payload: 'original' | 'value';
}

const fields = new Set(['kind', 'topic', 'qos', 'retain', 'payload']);

function target(template: string, topic: string): string {
  const out = template.replaceAll('{topic}', topic);
  validateTopicName(out);
  return out;
}

export const republish: ActionKind<RepublishConfig> = {
  kind: 'republish',

  parse(config) {
    const unknown = Object.keys(config).find((k) => !fields.has(k));
    if (unknown) throw new Error(`unknown field ${unknown} (fields: ${[...fields].join(', ')})`);
    const { topic, qos, retain, payload } = config;
    if (typeof topic !== 'string' || topic === '') throw new Error('topic must be a topic name; {topic} stands for the original topic');
    if (topic.startsWith('$')) throw new Error('topic may not begin with $ (those topics belong to the server)');
    try {
      target(topic, 'x');
    } catch (err) {
      throw new Error(`topic "${topic}" is not a valid topic name: ${(err as Error).message}`);
    }
    if (qos !== undefined && qos !== 0 && qos !== 1 && qos !== 2) throw new Error('qos must be 0, 1 or 2 (default: the message\'s)');
    if (retain !== undefined && typeof retain !== 'boolean') throw new Error('retain must be true or false');
    if (payload !== undefined && payload !== 'original' && payload !== 'value') throw new Error('payload must be "original" or "value"');
    return { topic, qos, retain: retain === true, payload: payload ?? 'original' };
  },

  limits: () => ({ count: 100, bytes: 1024 * 1024 }),

  async deliver(config, batch, context) {
    for (const m of batch) {
      const payload = config.payload === 'value' && m.value !== undefined ? new TextEncoder().encode(JSON.stringify(m.value)) : m.payload;
      const qos = config.qos ?? m.qos;
      await context.publish(target(config.topic, m.topic), payload, { qos, retain: config.retain, userProperties: markedBy(context.rule, m.userProperties) });
    }
  },
};
