// Cloudflare's billed units and their list prices (no free tier): plain data and arithmetic, no
// Workers types, so the benchmark prices its readings with the same code.

export interface Units {
  /** HTTP requests and WebSocket upgrades that reached the object, and alarms. */
  requests: number;
  /** RPC calls from the namespace's other objects (sharded topology), billed as requests. */
  rpcCalls: number;
  /** Billed as requests at 20:1. */
  websocketMessagesIn: number;
  rowsRead: number;
  rowsWritten: number;
  /**
   * Time the object was not eligible to hibernate: its event handlers, and every moment an event
   * stream was open. A floor: the runtime's clock only moves on I/O.
   */
  activeMs: number;
}

/** US dollars per unit, from Cloudflare's Durable Objects pricing page. */
export const prices = {
  request: 0.15 / 1e6,
  gbSecond: 12.5 / 1e6,
  rowWritten: 1 / 1e6,
  rowRead: 0.001 / 1e6,
} as const;

/** Memory billed per object, in GB. */
export const objectGb = 128 / 1024;

/** Units as billed, with the estimated dollars. */
export function billing(u: Units) {
  const billedRequests = u.requests + u.rpcCalls + u.websocketMessagesIn / 20; // WebSocket messages in at 20:1
  const gbSeconds = (u.activeMs / 1000) * objectGb;
  const usd = billedRequests * prices.request + gbSeconds * prices.gbSecond + u.rowsWritten * prices.rowWritten + u.rowsRead * prices.rowRead;
  return { ...u, billedRequests, gbSeconds, estimatedUsd: Number(usd.toFixed(6)) };
}


/**
 * The rule actions' sinks, US dollars per unit beyond what a plan includes:
 * - Queues: an operation is 64 KB written, read or deleted; a delivered message of at most 64 KB
 *   is three (https://developers.cloudflare.com/queues/platform/pricing/)
 * - R2 Standard: a Class A operation (PutObject) and a GB-month stored (https://developers.cloudflare.com/r2/pricing/)
 * - D1: a row written (each index on the table writes one more) and a GB-month stored
 *   (https://developers.cloudflare.com/d1/platform/pricing/)
 * - Analytics Engine: a data point written (https://developers.cloudflare.com/analytics/analytics-engine/pricing/)
 */
export const sinkPrices = {
  queueOperation: 0.4 / 1e6,
  r2ClassA: 4.5 / 1e6,
  r2GbMonth: 0.015,
  d1RowWritten: 1 / 1e6,
  d1GbMonth: 0.75,
  analyticsDataPoint: 0.25 / 1e6,
} as const;

/** AWS IoT Core rules engine: per rule triggered and per action run (https://aws.amazon.com/iot-core/pricing/). */
export const awsIotRulesPrices = { ruleTriggered: 0.15 / 1e6, action: 0.15 / 1e6 } as const;
