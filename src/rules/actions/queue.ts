// The Queue action: each matched message becomes one Cloudflare Queues message (content type
// json), sent with sendBatch; a consumer Worker receives them in batches. This is how a Worker
// subscribes to the broker.
//   { "kind": "queue", "binding": "RULES_QUEUE", "body": "message" | "value" }
// body "message" (default): the record of fields.ts messageRecord; "value": the rule's projection
// alone (messages whose payload is not JSON then send their record instead).
import type { ActionKind, BatchLimits, RuleMessage } from '../action.ts';
import { bindingOf, byteLength, messageRecord, onlyFields } from './fields.ts';

/**
 * Cloudflare Queues limits (https://developers.cloudflare.com/queues/platform/limits/): a message
 * is at most 128 KB and a sendBatch call at most 100 messages and 256 KB in total, KB being 1000
 * bytes, each message counting about 100 bytes of metadata besides its body.
 */
export const queueLimits = { messageBytes: 128_000, batchMessages: 100, batchBytes: 256_000, metadataBytes: 100 } as const;

export interface QueueConfig {
  binding: string;
  body: 'message' | 'value';
}

interface QueueBinding {
  sendBatch(messages: { body: unknown; contentType?: 'json' }[]): Promise<unknown>;
}

function bodyOf(config: QueueConfig, m: RuleMessage): unknown {
  return config.body === 'value' && m.value !== undefined ? m.value : messageRecord(m);
}

/** Splits bodies (`size`: JSON bytes), in order, into sendBatch calls within the limits; throws on a body no call can carry. */
export function queueBatches<T extends { seq: number; size: number }>(bodies: T[]): T[][] {
  const calls: T[][] = [];
  let bytes = Infinity;
  for (const body of bodies) {
    const size = body.size + queueLimits.metadataBytes;
    if (size > queueLimits.messageBytes) {
      throw new Error(`message seq ${body.seq} is ${size} bytes as a Queue message (with metadata), more than the ${queueLimits.messageBytes} a Queue message may be`);
    }
    const last = calls[calls.length - 1];
    if (bytes + size > queueLimits.batchBytes || last.length >= queueLimits.batchMessages) {
      calls.push([body]);
      bytes = size;
    } else {
      last.push(body);
      bytes += size;
    }
  }
  return calls;
}

export const queueAction: ActionKind<QueueConfig> = {
  kind: 'queue',

  parse(config, env) {
    onlyFields(config, ['binding', 'body']);
    const { name } = bindingOf<QueueBinding>(config, env, 'Queue producer', ['send', 'sendBatch']);
    const body = config.body ?? 'message';
    if (body !== 'message' && body !== 'value') throw new Error('body must be "message" or "value"');
    return { binding: name, body };
  },

  /** One sendBatch call's worth; records and base64 make the bodies larger, so deliver may need two. */
  limits(): BatchLimits {
    return { count: queueLimits.batchMessages, bytes: queueLimits.batchBytes / 2 };
  },

  /**
   * Sends the batch in seq order, in as few sendBatch calls as the limits allow. Every body is
   * checked first: a message too large for a Queue fails the batch before anything is sent (the
   * engine's retries then dead-letter it). A sendBatch that throws fails the batch; a retry sends
   * again what an earlier call of the same batch had sent (at least once).
   */
  async deliver(config, batch, context) {
    const queue = context.env[config.binding] as QueueBinding;
    const bodies = batch.map((m) => {
      const body = bodyOf(config, m);
      return { seq: m.seq, body, size: byteLength(JSON.stringify(body)) };
    });
    for (const call of queueBatches(bodies)) {
      await queue.sendBatch(call.map(({ body }) => ({ body, contentType: 'json' as const })));
    }
  },
};
