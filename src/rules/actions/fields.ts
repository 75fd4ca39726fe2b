// What the binding actions share: a matched message as one JSON record (Queue bodies, R2 lines),
// field paths that pick one value out of a message (D1 columns, Analytics Engine blobs and
// doubles), and the checks every action's configuration makes on its binding and fields.
import { isValidUtf8 } from '../../protocol/index.ts';
import { toBase64 } from '../../broker/auth/base64.ts';
import type { RuleMessage } from '../action.ts';

const text = new TextDecoder();
const utf8 = new TextEncoder();

/** UTF-8 length of a string, in bytes. */
export const byteLength = (s: string): number => utf8.encode(s).length;

/**
 * One message as JSON: `{ seq, topic, payload, encoding, qos, retain, receivedAt, clientId?,
 * username?, contentType?, userProperties?, value? }`. `payload` is the payload as text when it is
 * UTF-8 (`encoding: "utf8"`), else base64 (`"base64"`); `receivedAt` is ISO 8601 UTC; `value` is
 * the rule's projection, when the payload is JSON.
 */
export function messageRecord(m: RuleMessage): Record<string, unknown> {
  const utf = isValidUtf8(m.payload);
  const record: Record<string, unknown> = {
    seq: m.seq, topic: m.topic, payload: utf ? text.decode(m.payload) : toBase64(m.payload, true), encoding: utf ? 'utf8' : 'base64',
    qos: m.qos, retain: m.retain, receivedAt: new Date(m.receivedAt).toISOString(),
  };
  if (m.clientId !== undefined) record.clientId = m.clientId;
  if (m.username !== undefined) record.username = m.username;
  if (m.contentType !== undefined) record.contentType = m.contentType;
  if (m.userProperties?.length) record.userProperties = m.userProperties;
  if (m.value !== undefined) record.value = m.value;
  return record;
}

/** Reads one value out of a message. */
export type Field = (m: RuleMessage) => unknown;

const plain: Record<string, Field> = {
  seq: (m) => m.seq,
  topic: (m) => m.topic,
  clientId: (m) => m.clientId,
  username: (m) => m.username,
  receivedAt: (m) => m.receivedAt,
  qos: (m) => m.qos,
  retain: (m) => m.retain,
  contentType: (m) => m.contentType,
  payload: (m) => (isValidUtf8(m.payload) ? text.decode(m.payload) : m.payload),
  value: (m) => m.value,
};

const segment = /^[A-Za-z0-9_$-]{1,64}$/;

/**
 * A field path: `seq`, `topic`, `clientId`, `username`, `receivedAt` (ms since the epoch), `qos`,
 * `retain`, `contentType`, `payload` (text when UTF-8, else bytes), `value` (the projection),
 * `value.a.b` (a member of it; a number picks an array element), `topic.<n>` (the n-th topic
 * level, from 0). Throws an Error naming `where` when the path is not one of these.
 */
export function parseField(path: unknown, where: string): Field {
  if (typeof path !== 'string') throw new Error(`${where} must be a field path string (topic, clientId, value.temperature …)`);
  const [head, ...rest] = path.split('.');
  if (head === 'topic' && rest.length === 1 && /^\d{1,3}$/.test(rest[0])) {
    const level = Number(rest[0]);
    return (m) => m.topic.split('/')[level];
  }
  const base = plain[head];
  if (!base || (rest.length && head !== 'value') || !rest.every((s) => segment.test(s))) {
    throw new Error(`${where}: "${path}" is not a field path (one of ${Object.keys(plain).join(', ')}, value.<member>…, topic.<level>)`);
  }
  if (!rest.length) return base;
  return (m) => rest.reduce<unknown>((v, key) => (v !== null && typeof v === 'object' && Object.hasOwn(v, key) ? (v as Record<string, unknown>)[key] : undefined), m.value);
}

/** The binding named by `config.binding`, checked to offer `methods`; throws naming what is wrong. */
export function bindingOf<T>(config: Record<string, unknown>, env: Record<string, unknown>, what: string, methods: string[]): { name: string; binding: T } {
  const name = config.binding;
  if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`binding must be the name of a ${what} binding in wrangler.toml`);
  const binding = env[name] as Record<string, unknown> | undefined;
  if (binding === undefined || binding === null) throw new Error(`binding ${name}: this Worker has no such binding (declare the ${what} in wrangler.toml)`);
  const missing = methods.find((m) => typeof binding[m] !== 'function');
  if (missing) throw new Error(`binding ${name} is not a ${what} (it has no ${missing}())`);
  return { name, binding: binding as T };
}

/** Refuses configuration fields an action does not know, so a typo is not silently ignored. */
export function onlyFields(config: Record<string, unknown>, known: string[]): void {
  const unknown = Object.keys(config).find((k) => k !== 'kind' && !known.includes(k));
  if (unknown) throw new Error(`unknown field ${unknown} (fields: ${known.join(', ')})`);
}

/** A whole number from `min` to `max`, or `fallback` when absent; throws naming the field. */
export function wholeNumber(value: unknown, field: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) throw new Error(`${field} must be a whole number from ${min} to ${max}`);
  return value as number;
}
