// Per-client publish rate and bytes per second as token buckets computed from the broker's
// clock: no timer, nothing stored. A bucket holds one second's worth and refills continuously;
// a publish that finds it empty ends the connection (v5 DISCONNECT 0x96 Message rate too high).
import { MqttError, ReasonCode } from '../protocol/index.ts';
import type { Connection } from './connection.ts';

export class TokenBucket {
  private tokens: number;
  private last: number;
  /** Tokens per second; the bucket holds as many. */
  private readonly rate: number;

  constructor(rate: number, now: number) {
    this.rate = rate;
    this.tokens = rate;
    this.last = now;
  }

  /** Takes n tokens if they are there. */
  take(n: number, now: number): boolean {
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}

interface Buckets {
  messages?: TokenBucket;
  bytes?: TokenBucket;
}

/** Per connection; a hibernation wake starts full buckets, as the idle time would have refilled them. */
const buckets = new WeakMap<Connection, Buckets>();

export function checkPublishRate(conn: Connection, payloadBytes: number): void {
  const { maxPublishRate, maxPublishBytesRate } = conn.broker.config;
  if (!maxPublishRate && !maxPublishBytesRate) return;
  const now = conn.now();
  let b = buckets.get(conn);
  if (!b) {
    b = {
      messages: maxPublishRate ? new TokenBucket(maxPublishRate, now) : undefined,
      bytes: maxPublishBytesRate ? new TokenBucket(maxPublishBytesRate, now) : undefined,
    };
    buckets.set(conn, b);
  }
  if (b.messages && !b.messages.take(1, now)) {
    throw new MqttError(ReasonCode.MessageRateTooHigh, `more than ${maxPublishRate} publishes per second`);
  }
  if (b.bytes && !b.bytes.take(payloadBytes, now)) {
    throw new MqttError(ReasonCode.MessageRateTooHigh, `more than ${maxPublishBytesRate} payload bytes per second`);
  }
}
