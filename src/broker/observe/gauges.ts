// What a namespace holds right now, read from the broker and its stores: the "gauges" beside
// the cumulative counters. Each read is its own function, so $SYS computes only what is read;
// none scans a table: the stores keep their counts (the SQLite ones in rows their triggers update).
import type { Broker } from '../broker.ts';

export const connectedClients = (broker: Broker): number => broker.gateway.activeCount();

/** Persistent sessions whose client is away (Mosquitto's clients/disconnected). */
export const disconnectedClients = (broker: Broker): number => broker.sessions.store.awayCount();

export const subscriptionCount = (broker: Broker): number => broker.shard.size;

/** Stored retained messages ($SYS topics are computed, not stored, and not counted). */
export const retainedCount = (broker: Broker): number => broker.shard.retained.count();

/** QoS 1/2 messages queued for or in flight to sessions. */
export const queuedMessages = (broker: Broker): number => broker.sessions.outboundTotal();

export interface Gauges {
  connected: number;
  disconnected: number;
  subscriptions: number;
  retained: number;
  queued: number;
}

export function gauges(broker: Broker): Gauges {
  return {
    connected: connectedClients(broker), disconnected: disconnectedClients(broker),
    subscriptions: subscriptionCount(broker), retained: retainedCount(broker), queued: queuedMessages(broker),
  };
}
