// The Cloudflare limits a client or an operator could push the broker into, each with the page
// that states it, and the check, run when a broker starts, that its settings keep every client
// inside them. Local workerd enforces only some of these (the attachment, the message size).
import { MqttError, ReasonCode } from '../protocol/index.ts';
import type { BrokerConfig } from './config.ts';
import { snapshotBound } from './snapshot.ts';

export interface PlatformLimit {
  value: number;
  unit: 'bytes' | 'ms';
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
} as const satisfies Record<string, PlatformLimit>;

/** Bytes a stored message's row holds beyond its packet: ids, sequence, expiry, column overhead. */
export const rowHeadroom = 64 * 1024;

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
  for (const key of ['maxQueuedBytes', 'maxPartialPacketBytes', 'maxRetainedBytesPerSubscribe'] as const) {
    if (config[key] > memory.value / 4) {
      problems.push(`${name(key)} ${config[key]} lets one client hold more than a quarter of an isolate's memory`
        + ` (${memory.value} bytes, ${memory.source})`);
    }
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
