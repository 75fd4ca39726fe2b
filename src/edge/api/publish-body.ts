// The body of POST /api/publish. JSON: { topic, payload, encoding, qos, retain, properties }.
// Any other content type: the raw body is the payload, and topic, qos and retain come from the
// query (curl -d 23.0 '…/api/publish?topic=temp/random'). Shape only; MQTT rules are the broker's.
import type { QoS } from '../../protocol/index.ts';
import type { AdminPublish } from '../../broker/admin/publish.ts';
import { readBody as body } from './dispatch.ts';
import { ApiError } from './json.ts';
import { decodePayload, propertiesFromJson, type Encoding } from './message-json.ts';

const bad = (message: string) => new ApiError(400, 'bad-request', message);
const fields = new Set(['topic', 'payload', 'encoding', 'qos', 'retain', 'properties']);

function qosOf(value: unknown): QoS {
  if (value === undefined) return 0;
  const qos = typeof value === 'string' && /^[012]$/.test(value) ? Number(value) : value;
  if (qos !== 0 && qos !== 1 && qos !== 2) throw bad('qos must be 0, 1 or 2');
  return qos;
}

const flags: Record<string, boolean> = { true: true, false: false, 1: true, 0: false };

function retainOf(value: unknown): boolean {
  if (value === undefined || typeof value === 'boolean') return value ?? false;
  const retain = typeof value === 'string' ? flags[value] : undefined;
  if (retain === undefined) throw bad('retain must be true or false');
  return retain;
}

function fromJson(bytes: Uint8Array): AdminPublish {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw bad('the body is not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad('the body must be a JSON object');
  const o = value as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !fields.has(k));
  if (unknown.length) throw bad(`unknown field ${unknown[0]} (fields: ${[...fields].join(', ')})`);
  if (typeof o.topic !== 'string') throw bad('topic must be a string');
  if (o.payload !== undefined && typeof o.payload !== 'string') throw bad('payload must be a string');
  if (o.encoding !== undefined && o.encoding !== 'utf8' && o.encoding !== 'base64') throw bad('encoding must be utf8 or base64');
  const payload = decodePayload((o.payload as string | undefined) ?? '', (o.encoding as Encoding | undefined) ?? 'utf8', 'payload');
  return { topic: o.topic, payload, qos: qosOf(o.qos), retain: retainOf(o.retain), properties: propertiesFromJson(o.properties) };
}

function fromQuery(url: URL, payload: Uint8Array): AdminPublish {
  const topic = url.searchParams.get('topic');
  if (topic === null) throw bad('topic is missing from the query');
  const param = (name: string) => url.searchParams.get(name) ?? undefined;
  return { topic, payload, qos: qosOf(param('qos')), retain: retainOf(param('retain')) };
}

export async function readPublish(request: Request, url: URL, maxPacketSize: number): Promise<AdminPublish> {
  const isJson = /^application\/json\b/i.test(request.headers.get('content-type') ?? '');
  // base64 and JSON quoting make a body larger than the packet it becomes
  const bytes = await body(request, isJson ? 2 * maxPacketSize + 65_536 : maxPacketSize);
  return isJson ? fromJson(bytes) : fromQuery(url, bytes);
}
