// Matched messages and an action context for the rule action tests (test/edge/rules-*.test.ts).
import { env } from 'cloudflare:workers';
import type { ActionContext, RuleMessage } from '../../src/rules/action.ts';

const utf8 = new TextEncoder();

/** A message as the engine hands it over; `value` is the parsed JSON payload when there is one. */
export function ruleMessage(seq: number, topic: string, payload: string | Uint8Array, extra: Partial<RuleMessage> = {}): RuleMessage {
  const bytes = typeof payload === 'string' ? utf8.encode(payload) : payload;
  let value: unknown;
  try {
    value = typeof payload === 'string' ? JSON.parse(payload) : undefined;
  } catch {
    value = undefined;
  }
  return { seq, topic, payload: bytes, value, qos: 1, retain: false, receivedAt: Date.UTC(2026, 10, 29, 14, 7, 30) + seq, ...extra };
}

/** The context a rule named `rule` delivers in, on this Worker's bindings (or `bindings` instead). */
export function actionContext(rule: string, bindings: Record<string, unknown> = env as unknown as Record<string, unknown>): ActionContext {
  return {
    env: bindings, rule, fetch,
    publish: () => Promise.reject(new Error('these actions do not publish')),
  };
}

export const workerEnv = env as unknown as Record<string, unknown>;
