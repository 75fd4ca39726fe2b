// Messages and v5 properties as JSON, both ways. Payloads and binary properties are text when
// they are UTF-8 and base64 otherwise (said by `encoding`); user properties are [name, value]
// pairs, which keep order and repeats, or, on input only, an object of names to values.
import { isValidUtf8, type Properties, type UserProperty } from '../../protocol/index.ts';
import type { Tapped } from '../../broker/observe/taps.ts';
import { fromBase64, toBase64 } from '../base64.ts';
import { ApiError } from './json.ts';

export type Encoding = 'utf8' | 'base64';

const utf8 = new TextEncoder();
const text = new TextDecoder();

export function decodePayload(value: string, encoding: Encoding, field: string): Uint8Array {
  if (encoding === 'utf8') return utf8.encode(value);
  try {
    return fromBase64(value);
  } catch {
    throw new ApiError(400, 'bad-request', `${field} is not valid base64`);
  }
}

/** Bytes as JSON: text when they are UTF-8, else base64. */
export function encodePayload(bytes: Uint8Array): { payload: string; encoding: Encoding } {
  return isValidUtf8(bytes) ? { payload: text.decode(bytes), encoding: 'utf8' } : { payload: toBase64(bytes), encoding: 'base64' };
}

export function messageToJson(m: Tapped & { expiresAt?: number }): Record<string, unknown> {
  const out: Record<string, unknown> = { topic: m.topic, ...encodePayload(m.payload), qos: m.qos, retain: m.retain };
  if (m.properties) out.properties = propertiesToJson(m.properties);
  if (m.expiresAt !== undefined) out.expiresAt = new Date(m.expiresAt).toISOString();
  return out;
}

export function propertiesToJson(p: Properties): Record<string, unknown> {
  const out: Record<string, unknown> = { ...p };
  if (p.correlationData) out.correlationData = toBase64(p.correlationData);
  return out;
}

type Reader = (value: unknown, name: string) => unknown;

const integer: Reader = (v, name) => {
  if (!Number.isInteger(v)) throw new ApiError(400, 'bad-request', `properties.${name} must be a whole number`);
  return v;
};
const string: Reader = (v, name) => {
  if (typeof v !== 'string') throw new ApiError(400, 'bad-request', `properties.${name} must be a string`);
  return v;
};

/** The properties a publisher may set, each with its JSON reader; ranges are checked by the broker. */
const readers: Record<string, Reader> = {
  payloadFormatIndicator: integer,
  messageExpiryInterval: integer,
  contentType: string,
  responseTopic: string,
  correlationData: (v, name) => decodePayload(string(v, name) as string, 'base64', `properties.${name}`),
  userProperties: (v) => userProperties(v),
};

function userProperties(v: unknown): UserProperty[] {
  const pairs = Array.isArray(v) ? v : v !== null && typeof v === 'object' ? Object.entries(v) : undefined;
  const ok = pairs?.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string');
  if (!ok) throw new ApiError(400, 'bad-request', 'properties.userProperties must be [name, value] string pairs or an object of strings');
  return pairs as UserProperty[];
}

export function propertiesFromJson(value: unknown): Properties | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ApiError(400, 'bad-request', 'properties must be an object');
  const props: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(value)) {
    const read = readers[name];
    if (!read) throw new ApiError(400, 'bad-request', `properties.${name} cannot be set on a publish (allowed: ${Object.keys(readers).join(', ')})`);
    props[name] = read(v, name);
  }
  return Object.keys(props).length ? (props as Properties) : undefined;
}
