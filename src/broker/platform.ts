// The Cloudflare limits a client or an operator could push the broker into, each with the page
// that states it, and the check, run when a broker starts, that its settings keep every client
// inside them. Local workerd enforces only some of these (the attachment, the message size).
import { MqttError, ReasonCode } from '../protocol/index.ts';
import type { BrokerConfig } from './config.ts';
import { snapshotBound } from './snapshot.ts';

export interface PlatformLimit {
  value: number;
  unit: 'bytes' | 'ms' | 'count';
  /** The Cloudflare documentation page stating it. */
  source: string;
}

const doLimits = 'https://developers.cloudflare.com/durable-objects/platform/limits/';

export const platformLimits = {
  /** A WebSocket's serialized attachment (workerd's MAX_ATTACHMENT_SIZE; older docs say 2,048). */
  attachment: { value: 16_384, unit: 'bytes', source: 'https://developers.cloudflare.com/durable-objects/api/websockets/#serializeattachment' },
  /** "Maximum string, BLOB or table row size: 2 MB" (SQLite-backed objects). */
  row: { value: 2_000_000, unit: 'bytes', source: doLimits },
  /** "Storage per Durable Object: 10 GB". */
  objectStorage: { value: 10_000_000_000, unit: 'bytes', source: doLimits },
  /** "WebSocket message size: 32 MiB (only for received messages)". */
  receivedMessage: { value: 32 * 1024 * 1024, unit: 'bytes', source: doLimits },
  /** "CPU per request: 30 seconds (default)"; each event of an object is one. */
  cpuPerEvent: { value: 30_000, unit: 'ms', source: doLimits },
  /** Memory per isolate, shared by the objects it runs. */
  memory: { value: 128 * 1024 * 1024, unit: 'bytes', source: 'https://developers.cloudflare.com/workers/platform/limits/#memory' },
  /** "Subrequests: 50/request" on the Free plan (1,000 on Paid); an alarm is one invocation. */
  subrequests: { value: 50, unit: 'count', source: 'https://developers.cloudflare.com/workers/platform/limits/#subrequests' },
  /** "Maximum RPC payload size: 32 MiB". */
  rpcPayload: { value: 32 * 1024 * 1024, unit: 'bytes', source: 'https://developers.cloudflare.com/workers/platform/limits/' },
} as const satisfies Record<string, PlatformLimit>;

/** Bytes a stored message's row holds beyond its packet: ids, sequence, expiry, column overhead. */
export const rowHeadroom = 64 * 1024;

/**
 * The most bytes a message can take as one SQLite row: the payload as a BLOB (a will's in JSON,
 * as base64), the topic, and the properties as JSON, where a string may take six bytes a unit
 * (a control character escaped) and binary four bytes per three. Compared with the row limit
 * before a message that may be stored is accepted.
 */
export function storedRowBound(topic: string, payload: Uint8Array, properties: object | undefined, payloadInJson = false): number {
  const body = payloadInJson ? jsonBound(payload) + jsonBound(topic) : payload.length + 3 * topic.length;
  return body + (properties ? jsonBound(properties) : 0) + rowHeadroom;
}

function jsonBound(value: unknown): number {
  if (typeof value === 'string') return 6 * value.length + 2;
  if (value instanceof Uint8Array) return Math.ceil(value.length / 3) * 4 + 12;
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + jsonBound(v) + 1, 2);
  if (value && typeof value === 'object') return Object.entries(value).reduce((n, [k, v]) => n + jsonBound(k) + jsonBound(v) + 2, 2);
  return 24; // a number, boolean or null
}

/**
 * Heap bytes one subscription takes in a routing index beyond its filter (trie nodes, key, entry),
 * measured in test/broker/memory.test.ts; a filter takes up to two bytes a character on top.
 */
export const subscriptionOverhead = 1_600;

/** The most heap an index of `maxSubscriptions` filters of `maxTopicLength` takes, all loaded at a wake. */
export function routingBound(config: Pick<BrokerConfig, 'maxSubscriptions' | 'maxTopicLength'>): number {
  return config.maxSubscriptions * (subscriptionOverhead + 2 * config.maxTopicLength);
}

/**
 * Throws naming the setting and the platform limit when a setting would let a client exceed it.
 * `name` spells a setting as the operator sets it (the edge: MQTT_MAX_PACKET_SIZE).
 */
export function checkPlatformLimits(config: BrokerConfig, name: (key: keyof BrokerConfig) => string = (key) => key): void {
  const { row, attachment } = platformLimits;
  const problems: string[] = [];
  if (config.maxPacketSize > row.value - rowHeadroom) {
    problems.push(`${name('maxPacketSize')} ${config.maxPacketSize} lets a client store a message larger than a SQLite row may be`
      + ` (${row.value} bytes, ${row.source}); at most ${row.value - rowHeadroom}`);
  }
  const storage = platformLimits.objectStorage;
  if (config.maxRetainedBytes > storage.value / 2) {
    problems.push(`${name('maxRetainedBytes')} ${config.maxRetainedBytes} lets retained messages take more than half of an object's`
      + ` storage (${storage.value} bytes, ${storage.source}), leaving too little for sessions`);
  }
  const memory = platformLimits.memory;
  for (const key of ['maxQueuedBytes', 'maxQueuedBytesTotal', 'maxPartialPacketBytes', 'maxRetainedBytesPerSubscribe'] as const) {
    if (config[key] > memory.value / 4) {
      problems.push(`${name(key)} ${config[key]} lets one client hold more than a quarter of an isolate's memory`
        + ` (${memory.value} bytes, ${memory.source})`);
    }
  }
  if (routingBound(config) > memory.value / 2) {
    problems.push(`${name('maxSubscriptions')} ${config.maxSubscriptions} filters of up to ${name('maxTopicLength')} ${config.maxTopicLength}`
      + ` take up to ${routingBound(config)} bytes at a wake, over half of an isolate's memory (${memory.value} bytes, ${memory.source})`);
  }
  const bound = snapshotBound(config);
  if (bound > attachment.value) {
    problems.push(`${name('topicAliasMaximum')} ${config.topicAliasMaximum} × ${name('maxTopicLength')} ${config.maxTopicLength}`
      + ` with ${name('maxClientIdLength')} ${config.maxClientIdLength} and ${name('maxUsernameLength')} ${config.maxUsernameLength}`
      + ` let a connection's hibernation attachment reach ${bound} bytes, over the WebSocket attachment limit`
      + ` (${attachment.value} bytes, ${attachment.source})`);
  }
  if (problems.length) throw new MqttError(ReasonCode.ImplementationSpecificError, `settings over Cloudflare's limits: ${problems.join('; ')}`);
}
