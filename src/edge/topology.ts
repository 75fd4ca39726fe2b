// How a namespace is laid out over Durable Objects, from wrangler vars (each may be set for one
// namespace with a `__<namespace>` suffix, like the auth settings):
//   MQTT_GATEWAYS          gateway objects holding client sockets        (default 1)
//   MQTT_SHARDS            topic-shard objects, subscriptions + retained (default 1)
//   MQTT_SESSION_OBJECTS   session objects, persistent sessions by client id (default: MQTT_SHARDS)
// 1 gateway and 1 shard is the default topology: every role in the one BrokerObject.
import type { Topology } from '../broker/fabric-core.ts';

export type { Topology } from '../broker/fabric-core.ts';

/** Most objects of one role per namespace: object names and fan-outs stay small. */
const maxObjects = 256;

function count(env: object, namespace: string, name: string): number | undefined {
  const vars = env as Record<string, unknown>;
  const raw = vars[`${name}__${namespace}`] ?? vars[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > maxObjects) throw new Error(`${name} must be a whole number from 1 to ${maxObjects}, got ${String(raw)}`);
  return value;
}

export function topologyFromEnv(env: object, namespace: string): Topology {
  const gateways = count(env, namespace, 'MQTT_GATEWAYS') ?? 1;
  const shards = count(env, namespace, 'MQTT_SHARDS') ?? 1;
  return { gateways, shards, sessions: count(env, namespace, 'MQTT_SESSION_OBJECTS') ?? shards };
}

export const isSharded = (t: Topology): boolean => t.gateways > 1 || t.shards > 1;

/** The name of one role object: `<namespace>#<index>`; the namespace has no `#` (see route.ts). */
export const objectName = (namespace: string, index: number): string => `${namespace}#${index}`;

export function parseObjectName(name: string | undefined): { namespace: string; index: number } {
  const match = /^(.+)#(\d+)$/.exec(name ?? '');
  if (!match) throw new Error(`a role object needs a name <namespace>#<index>, got ${String(name)}`);
  return { namespace: match[1], index: Number(match[2]) };
}
