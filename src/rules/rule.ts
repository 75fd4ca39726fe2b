// A rule as configured (MQTT_RULES_FILE or the admin API) and its check: every field is read
// and bounded here, and a refusal names the rule and the field. Defaults and bounds live in
// limits.ts; the condition language in condition.ts, the projection in projection.ts.
import { validateTopicFilter } from '../protocol/index.ts';
import type { ActionKind } from './action.ts';
import { parseCondition, type Condition } from './condition.ts';
import { parseProjection, type Projection } from './projection.ts';
import { ruleBounds as b } from './limits.ts';

export interface Backoff {
  /** Wait after the first failed try, ms; doubled per try up to `maxMs`. */
  initialMs: number;
  maxMs: number;
}

export interface Rule {
  name: string;
  /** A topic filter; `$share/<group>/` is accepted and means the same: each message once per rule. */
  topic: string;
  condition?: Condition;
  projection?: Projection;
  /** The action's kind and its configuration as its ActionKind.parse returned it. */
  action: { kind: ActionKind; config: unknown };
  enabled: boolean;
  /** Attempts of a message before it goes to the dead letters (1: no retry). */
  tries: number;
  backoff: Backoff;
  /** Bounds on what waits in the rule's outbox; when full, QoS 1/2 publishes are refused (0x97). */
  outbox: { messages: number; bytes: number };
  /** The definition as given (JSON), for the admin API and the store. */
  definition: Record<string, unknown>;
}

/** A refusal of a rule definition: `rule "<name>": <field> <problem>`. */
export class RuleError extends Error {}

/** A request that conflicts with the rule's state (a file rule changed through the API, a delete that would drop messages). */
export class RuleConflict extends RuleError {}

const fields = new Set(['name', 'topic', 'condition', 'projection', 'action', 'enabled', 'tries', 'backoff', 'outbox']);

export const namePattern = /^[A-Za-z0-9_-]{1,64}$/;

function whole(value: unknown, field: string, min: number, max: number, fallback: number, fail: (m: string) => never): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) fail(`${field} must be a whole number from ${min} to ${max}`);
  return value as number;
}

function object(value: unknown, field: string, fail: (m: string) => never): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(`${field} must be a JSON object`);
  return value as Record<string, unknown>;
}

/**
 * Checks one rule definition against the action kinds this build knows; `env` lets an action
 * check its bindings and secrets now. Throws RuleError naming the rule and the field.
 */
export function parseRule(input: unknown, kinds: ReadonlyMap<string, ActionKind>, env: Record<string, unknown>, at = 'rule'): Rule {
  const raw = object(input, at, (m) => { throw new RuleError(m); });
  const label = typeof raw.name === 'string' ? `rule "${raw.name}"` : at;
  const fail = (message: string): never => { throw new RuleError(`${label}: ${message}`); };
  const unknown = Object.keys(raw).find((k) => !fields.has(k));
  if (unknown) fail(`unknown field ${unknown} (fields: ${[...fields].join(', ')})`);
  if (typeof raw.name !== 'string' || !namePattern.test(raw.name)) fail('name must be 1 to 64 of A-Z a-z 0-9 _ -');
  const name = raw.name as string;
  if (typeof raw.topic !== 'string' || raw.topic === '') fail('topic must be a topic filter, e.g. "sensors/+/temperature"');
  const topic = raw.topic as string;
  try {
    validateTopicFilter(topic);
  } catch (err) {
    fail(`topic "${topic}" is not a valid topic filter: ${(err as Error).message}`);
  }
  if (raw.enabled !== undefined && typeof raw.enabled !== 'boolean') fail('enabled must be true or false');
  const condition = raw.condition === undefined ? undefined : guarded(() => parseCondition(raw.condition), 'condition', fail);
  const projection = raw.projection === undefined ? undefined : guarded(() => parseProjection(raw.projection), 'projection', fail);
  const actionRaw = object(raw.action, 'action', fail);
  const kind = typeof actionRaw.kind === 'string' ? kinds.get(actionRaw.kind) : undefined;
  if (!kind) fail(`action.kind must be one of ${[...kinds.keys()].join(', ')}`);
  const config = guarded(() => kind!.parse(actionRaw, env), 'action', fail);
  const backoffRaw = raw.backoff === undefined ? {} : object(raw.backoff, 'backoff', fail);
  const backoff = {
    initialMs: whole(backoffRaw.initialMs, 'backoff.initialMs', 100, b.maxBackoffMs, b.backoffInitialMs, fail),
    maxMs: whole(backoffRaw.maxMs, 'backoff.maxMs', 100, b.maxBackoffMs, b.backoffMaxMs, fail),
  };
  if (backoff.maxMs < backoff.initialMs) fail('backoff.maxMs must be at least backoff.initialMs');
  const outboxRaw = raw.outbox === undefined ? {} : object(raw.outbox, 'outbox', fail);
  const outbox = {
    messages: whole(outboxRaw.messages, 'outbox.messages', 1, b.maxOutboxMessages, b.outboxMessages, fail),
    bytes: whole(outboxRaw.bytes, 'outbox.bytes', 1024, b.maxOutboxBytes, b.outboxBytes, fail),
  };
  return {
    name, topic, condition, projection, action: { kind: kind!, config }, enabled: raw.enabled !== false,
    tries: whole(raw.tries, 'tries', 1, b.maxTries, b.tries, fail), backoff, outbox, definition: raw,
  };
}

function guarded<T>(parse: () => T, field: string, fail: (m: string) => never): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof RuleError) throw err;
    return fail(`${field}: ${(err as Error).message}`);
  }
}

/**
 * The rules of MQTT_RULES_FILE: `{"rules": [...]}` or a bare array. Names must be unique and
 * there may be at most `ruleBounds.maxRules`. Throws RuleError naming what is wrong.
 */
export function parseRulesFile(text: string, kinds: ReadonlyMap<string, ActionKind>, env: Record<string, unknown>): Rule[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new RuleError(`MQTT_RULES_FILE is not JSON: ${(err as Error).message}`);
  }
  const list = Array.isArray(value) ? value : (value as { rules?: unknown } | null)?.rules;
  if (!Array.isArray(list)) throw new RuleError('MQTT_RULES_FILE must be {"rules": [...]} or an array of rules');
  if (list.length > b.maxRules) throw new RuleError(`MQTT_RULES_FILE holds ${list.length} rules; at most ${b.maxRules}`);
  const rules = list.map((r, i) => parseRule(r, kinds, env, `MQTT_RULES_FILE rule #${i + 1}`));
  const seen = new Set<string>();
  for (const r of rules) {
    if (seen.has(r.name)) throw new RuleError(`MQTT_RULES_FILE: rule "${r.name}" is defined twice`);
    seen.add(r.name);
  }
  return rules;
}

/** Wait before try `attempt + 1`, after `attempt` failed tries (ms). */
export function backoffDelay(backoff: Backoff, attempts: number): number {
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.max(0, Math.min(attempts - 1, 30)));
}
