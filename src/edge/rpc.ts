// Worker RPC: another Worker with a service binding to this one (entrypoint "BrokerRpc") publishes
// into a namespace and reads its retained messages. A publish gets what a client's PUBLISH gets:
// topic checks, size limits, v5 properties, QoS, retain, and the ACL judging the identity the
// caller's service binding declares in its props ({ namespace, username, clientId }). Refusals are
// thrown as BrokerRpcError; RPC carries an error's message only, so the caller catches an Error
// whose message is "BrokerRpcError: 0x87 NotAuthorized: <why>" (the reason code a client would get).
// https://developers.cloudflare.com/workers/runtime-apis/bindings/service-bindings/rpc/
import { WorkerEntrypoint } from 'cloudflare:workers';
import { MqttError, ReasonCode, reasonCodeText, type Properties, type QoS, type UserProperty } from '../protocol/index.ts';
import type { AdminPublish } from '../broker/admin/publish.ts';
import { maxUsernameBytes } from '../broker/auth/users.ts';
import { authConfigFromEnv } from './auth/config.ts';
import { namespacePattern } from './route.ts';
import { isSharded, objectName, topologyFromEnv } from './topology.ts';
import type { Outcome, WorkerIdentity } from './worker-calls.ts';

/** The v5 properties a Worker may set on a publish. */
export interface RpcProperties {
  payloadFormatIndicator?: 0 | 1;
  /** Seconds [MQTT-3.3.2.3.3]. */
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Uint8Array | ArrayBuffer;
  /** [name, value] pairs (order and repeats kept), or an object of names to values. */
  userProperties?: UserProperty[] | Record<string, string>;
}

export interface RpcPublishOptions {
  qos?: QoS;
  retain?: boolean;
  properties?: RpcProperties;
}

export interface RetainedMessage {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  properties?: Properties;
  /** When it expires, ms since the epoch (Message Expiry Interval). */
  expiresAt?: number;
}

/** An MQTT refusal: `reasonCode` is the code a client would get (also at the start of the message). */
export class BrokerRpcError extends Error {
  readonly reasonCode: number;

  constructor(reasonCode: number, message: string) {
    super(`${reasonCodeText(reasonCode)}: ${message}`);
    this.name = 'BrokerRpcError';
    this.reasonCode = reasonCode;
  }
}

const malformed = (message: string) => new MqttError(ReasonCode.MalformedPacket, message);
const propertyNames = new Set(['payloadFormatIndicator', 'messageExpiryInterval', 'contentType', 'responseTopic', 'correlationData', 'userProperties']);

function bytesOf(value: unknown, what: string): Uint8Array {
  if (typeof value === 'string') return new TextEncoder().encode(value);
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw malformed(`${what} must be a string, a Uint8Array or an ArrayBuffer`);
}

function propertiesOf(value: unknown): Properties | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object') throw malformed('properties must be an object');
  const p = { ...(value as Record<string, unknown>) };
  const unknown = Object.keys(p).find((k) => !propertyNames.has(k));
  if (unknown) throw malformed(`properties.${unknown} cannot be set on a publish (allowed: ${[...propertyNames].join(', ')})`);
  for (const k of ['payloadFormatIndicator', 'messageExpiryInterval'] as const) {
    if (p[k] !== undefined && !Number.isInteger(p[k])) throw malformed(`properties.${k} must be a whole number`);
  }
  for (const k of ['contentType', 'responseTopic'] as const) {
    if (p[k] !== undefined && typeof p[k] !== 'string') throw malformed(`properties.${k} must be a string`);
  }
  if (p.correlationData !== undefined) p.correlationData = bytesOf(p.correlationData, 'properties.correlationData');
  if (p.userProperties !== undefined) {
    const up = p.userProperties;
    const pairs = Array.isArray(up) ? up : up !== null && typeof up === 'object' ? Object.entries(up) : undefined;
    if (!pairs?.every((x) => Array.isArray(x) && x.length === 2 && typeof x[0] === 'string' && typeof x[1] === 'string')) {
      throw malformed('properties.userProperties must be [name, value] string pairs or an object of strings');
    }
    p.userProperties = pairs;
  }
  return Object.keys(p).length ? (p as Properties) : undefined;
}

/** The call's arguments as a publish; the broker checks the rest (topic, ranges, size, ACL). */
export function publishInput(topic: unknown, payload: unknown, options: unknown): AdminPublish {
  if (typeof topic !== 'string') throw new MqttError(ReasonCode.TopicNameInvalid, 'topic must be a string');
  if (options !== undefined && (options === null || typeof options !== 'object')) throw malformed('options must be an object');
  const o = (options ?? {}) as Record<string, unknown>;
  const unknown = Object.keys(o).find((k) => !['qos', 'retain', 'properties'].includes(k));
  if (unknown) throw malformed(`unknown option ${unknown} (options: qos, retain, properties)`);
  const qos = o.qos ?? 0;
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new MqttError(ReasonCode.QoSNotSupported, 'qos must be 0, 1 or 2');
  if (o.retain !== undefined && typeof o.retain !== 'boolean') throw malformed('retain must be true or false');
  return { topic, payload: bytesOf(payload, 'payload'), qos, retain: o.retain === true, properties: propertiesOf(o.properties) };
}

/** The identity a binding's props declare: { namespace?, username?, clientId? }. */
export function identityOf(props: unknown, env: Env): WorkerIdentity {
  const p = (props ?? {}) as Record<string, unknown>;
  const namespace = p.namespace ?? 'default';
  if (typeof namespace !== 'string' || !namespacePattern.test(namespace)) throw malformed('props.namespace must be 1 to 64 of A-Z a-z 0-9 _ -');
  const username = p.username;
  if (username !== undefined && (typeof username !== 'string' || !username || new TextEncoder().encode(username).length > maxUsernameBytes)) {
    throw malformed(`props.username must be a string of 1 to ${maxUsernameBytes} bytes`);
  }
  if (username === undefined && !authConfigFromEnv(env, namespace).allowAnonymous) {
    throw new MqttError(ReasonCode.NotAuthorized, `namespace ${namespace} allows no anonymous publisher: declare a username in the service binding's props`);
  }
  const clientId = p.clientId ?? `worker:${username ?? 'anonymous'}`;
  if (typeof clientId !== 'string' || !clientId || clientId.length > 256) throw malformed('props.clientId must be a string of 1 to 256 characters');
  return { namespace, clientId, ...(username !== undefined && { username: username as string }) };
}

function unwrap<T>(result: Outcome<T>): T {
  if ('value' in result) return result.value;
  throw new BrokerRpcError(result.reasonCode, result.message);
}

/** Runs `work`, turning an MqttError thrown here into a BrokerRpcError too. */
async function call<T>(work: () => Promise<Outcome<T>>): Promise<T> {
  try {
    return unwrap(await work());
  } catch (err) {
    if (err instanceof MqttError) throw new BrokerRpcError(err.reasonCode, err.message);
    throw err;
  }
}

export class BrokerRpc extends WorkerEntrypoint<Env> {
  /**
   * Publishes as a client would. Resolves once the broker accepted the message (QoS 1/2: the
   * owning shard stored and routed it) with the number of sessions it reached; throws
   * BrokerRpcError with the reason code a client's PUBACK or DISCONNECT would carry.
   */
  async publish(topic: string, payload: string | Uint8Array | ArrayBuffer, options?: RpcPublishOptions): Promise<{ matched: number }> {
    return call(async () => {
      const identity = identityOf(this.ctx.props, this.env);
      const input = publishInput(topic, payload, options);
      const result = await this.gateway(identity.namespace).workerPublish(input, identity);
      return 'value' in result ? { value: { matched: result.value } } : result;
    });
  }

  /**
   * The retained messages matching `topicFilter` that the identity may read, by topic: the first
   * `limit` (1 to 1000, default 100) and how many match; `more` when the look-up stopped at its
   * byte bound (8 MiB of payload) before the end.
   */
  async retained(topicFilter: string, options?: { limit?: number }): Promise<{ total: number; messages: RetainedMessage[]; more: boolean }> {
    return call(async () => {
      const identity = identityOf(this.ctx.props, this.env);
      const limit = options?.limit ?? 100;
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw malformed('limit must be a whole number from 1 to 1000');
      if (typeof topicFilter !== 'string') throw new MqttError(ReasonCode.TopicFilterInvalid, 'topicFilter must be a string');
      return (await this.gateway(identity.namespace).workerRetained(topicFilter, limit, identity)) as Outcome<{ total: number; messages: RetainedMessage[]; more: boolean }>;
    });
  }

  /** The namespace's object, or one of its gateways at random (sharded). */
  private gateway(namespace: string) {
    const topology = topologyFromEnv(this.env, namespace);
    return this.env.BROKER.getByName(isSharded(topology) ? objectName(namespace, Math.floor(Math.random() * topology.gateways)) : namespace);
  }
}
